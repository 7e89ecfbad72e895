package cola.backend.cuda;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** The messages a user sees when the GPU side fails (format only: no GPU needed). */
class CudaExceptionTest {

    @Test
    void namesTheOpTheErrorAndTheShapes() {
        CudaException e = new CudaException("gelu_forward on cuda:0", 98, "invalid device function",
                "out=f32[4, 8], inp=f32[4, 8]");
        assertEquals("gelu_forward on cuda:0: CUDA error 98 (invalid device function) [out=f32[4, 8], inp=f32[4, 8]]",
                e.getMessage());
        assertEquals(98, e.code());
        assertInstanceOf(RuntimeException.class, e);
    }

    @Test
    void stickyErrorsSayTheContextIsGone() {
        CudaException e = new CudaException("attention_backward on cuda:1", 700,
                "an illegal memory access was encountered", "q=f32[2, 13, 4, 16]");
        assertEquals("attention_backward on cuda:1: CUDA error 700 (an illegal memory access was encountered)"
                + " [q=f32[2, 13, 4, 16]]; the CUDA context is now unusable: restart the JVM", e.getMessage());
        assertTrue(CudaException.isSticky(719));
        assertFalse(CudaException.isSticky(2));
        assertFalse(CudaException.isSticky(1001));
    }

    @Test
    void noShapesNoBrackets() {
        assertEquals("free on cuda:0: CUDA error 1 (invalid argument)",
                new CudaException("free on cuda:0", 1, "invalid argument", "").getMessage());
    }

    @Test
    void cublasStatusesAreNamed() {
        CudaException e = CudaException.ofCublas("gemm (cuBLAS sgemm 37x33x65) on cuda:0", 13,
                CudaException.cublasStatusName(13), "a=f32[65, 37]");
        assertEquals("gemm (cuBLAS sgemm 37x33x65) on cuda:0: cuBLAS status 13 (CUBLAS_STATUS_EXECUTION_FAILED)"
                + " [a=f32[65, 37]]", e.getMessage());
        assertEquals(13, e.code());
        assertEquals("unknown cuBLAS status", CudaException.cublasStatusName(12345));
    }

    @Test
    void outOfMemoryIsACudaExceptionThatSaysWhatToDo() {
        CudaOutOfMemoryException e = new CudaOutOfMemoryException("cuda:0", 3L << 30, 2, "out of memory");
        assertEquals("cuda:0: out of device memory: could not allocate 3221225472 bytes (3.00 GiB): CUDA error 2"
                + " (out of memory); nothing was allocated, free tensors or use a smaller batch", e.getMessage());
        assertInstanceOf(CudaException.class, e);
        assertEquals(2, e.code());
    }
}
