package cola.backend;

/** How a merge rounds into a bf16 weight. */
public enum Rounding { NEAREST_EVEN, STOCHASTIC }
