package cola.backend;

/**
 * How a merge rounds into a bf16 weight: to nearest even, stochastically (unbiased, E[w'] = w + d), or compensated
 * (nearest even, and the rounding error is kept in an fp32 residual per weight that the next knot and the export fold
 * back in, so nothing is lost across a chain: the default of the bf16 engine).
 */
public enum Rounding {
    NEAREST_EVEN, STOCHASTIC, COMPENSATED
}
