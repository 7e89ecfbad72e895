package cola.backend;

/** GELU variants: NONE is x·Φ(x) with erf (BERT "gelu"); TANH is GPT-2's "gelu_new". */
public enum GeluApproximation { NONE, TANH }
