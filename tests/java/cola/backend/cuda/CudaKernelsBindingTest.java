package cola.backend.cuda;

import static cola.backend.cuda.CudaKernels.*;
import static org.junit.jupiter.api.Assertions.*;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.IntSupplier;
import org.junit.jupiter.api.Test;

/**
 * The JavaCPP binding of cola_cuda.h: it loads everywhere, every function is bound (a missing JNI symbol would throw
 * UnsatisfiedLinkError), and without a GPU every call answers with an error code instead of crashing the JVM.
 * Runs on every machine; where a GPU is present the no-device test checks the device answers instead.
 */
class CudaKernelsBindingTest {
    private static final int ERR_ARG = 1001;
    private static final int STUB = 100;

    /** Every op with null pointers and a size the library rejects on the host, before touching any device. */
    private static Map<String, IntSupplier> rejectedCalls() {
        Map<String, IntSupplier> m = new LinkedHashMap<>();
        m.put("lora_linear_forward", () -> cola_cuda_lora_linear_forward(0, 0, 0, 0, 0, 1f, 0f, 0, -1, 1, 1, 1, 0));
        m.put("lora_linear_backward", () -> cola_cuda_lora_linear_backward(0, 0, 0, 0, 0, 0, 0, 0, 0, 1f, 0f, 0, -1, 1,
                1, 1, 0));
        m.put("lora_sgmv_forward", () -> cola_cuda_lora_sgmv_forward(0, 0, 0, 0, 0, 0, 0, 1, 0f, 0, 1, 1, 1, 1, 0));
        m.put("merge_f32", () -> cola_cuda_merge_f32(0, 0, 0, 1f, -1, 1, 1, 0));
        m.put("merge_bf16", () -> cola_cuda_merge_bf16(0, 0, 0, 1f, -1, 1, 1, 0, 0, new long[1], 0));
        m.put("layernorm_forward", () -> cola_cuda_layernorm_forward(0, 0, 0, 0, 0, 0, -1, 1, 1e-5f, 0));
        m.put("layernorm_backward", () -> cola_cuda_layernorm_backward(0, 0, 0, 0, 0, 0, 0, 0, -1, 1, 0));
        m.put("rmsnorm_forward", () -> cola_cuda_rmsnorm_forward(0, 0, 0, 0, -1, 1, 1e-5f, 0));
        m.put("rmsnorm_backward", () -> cola_cuda_rmsnorm_backward(0, 0, 0, 0, 0, 0, -1, 1, 0));
        m.put("gelu_forward", () -> cola_cuda_gelu_forward(0, 0, 1, 7, 0));
        m.put("gelu_backward", () -> cola_cuda_gelu_backward(0, 0, 0, 1, 7, 0));
        m.put("relu_forward", () -> cola_cuda_relu_forward(0, 0, -1, 0));
        m.put("relu_backward", () -> cola_cuda_relu_backward(0, 0, 0, -1, 0));
        m.put("silu_forward", () -> cola_cuda_silu_forward(0, 0, -1, 0));
        m.put("silu_backward", () -> cola_cuda_silu_backward(0, 0, 0, -1, 0));
        m.put("swiglu_forward", () -> cola_cuda_swiglu_forward(0, 0, 0, -1, 0));
        m.put("swiglu_backward", () -> cola_cuda_swiglu_backward(0, 0, 0, 0, 0, -1, 0));
        m.put("add_forward", () -> cola_cuda_add_forward(0, 0, 0, -1, 0));
        m.put("embedding_forward", () -> cola_cuda_embedding_forward(0, 0, 0, -1, 1, 1, 0));
        m.put("embedding_backward", () -> cola_cuda_embedding_backward(0, 0, 0, -1, 1, 1, 0));
        m.put("rope_forward", () -> cola_cuda_rope_forward(0, 0, 0, -1, 1, 2, 1e4f, 0));
        m.put("rope_backward", () -> cola_cuda_rope_backward(0, 0, 0, -1, 1, 2, 1e4f, 0));
        m.put("attention_forward", () -> cola_cuda_attention_forward_window(0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1f, 0));
        m.put("attention_backward", () -> cola_cuda_attention_backward_window(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0,
                1, 0, 1f, 0));
        m.put("softmax_xent_forward", () -> cola_cuda_softmax_xent_forward(0, 0, 0, 0, -1, 1, -100, 0));
        m.put("softmax_xent_backward", () -> cola_cuda_softmax_xent_backward(0, 0, 0, 0, 0, -1, 1, -100, 0));
        m.put("adamw_step", () -> cola_cuda_adamw_step(new long[1], new long[1], new long[1], new long[1],
                new long[] {4}, 1, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1, 1f, 0));
        m.put("sum_squares", () -> cola_cuda_sum_squares(0, new long[1], new long[] {4}, 1, 0));
        m.put("scale", () -> cola_cuda_scale(new long[1], new long[] {4}, 1, 0.5f, 0));
        m.put("dropout_forward", () -> cola_cuda_dropout_forward(0, 0, 1, 2f, 0, 0));
        m.put("dropout_backward", () -> cola_cuda_dropout_backward(0, 0, 1, 2f, 0, 0));
        m.put("copy_cols", () -> cola_cuda_copy_cols(0, 1, 0, 1, -1, 1, 0, 0));
        m.put("f32_to_bf16", () -> cola_cuda_f32_to_bf16(0, 0, -1, 0));
        m.put("bf16_to_f32", () -> cola_cuda_bf16_to_f32(0, 0, -1, 0));
        m.put("f32_to_f16", () -> cola_cuda_f32_to_f16(0, 0, -1, 0));
        m.put("f16_to_f32", () -> cola_cuda_f16_to_f32(0, 0, -1, 0));
        return m;
    }

    /** Every function with null pointers and sizes of 1: only safe where no device can run them (see below). */
    private static Map<String, IntSupplier> nullPointerCalls() {
        Map<String, IntSupplier> m = new LinkedHashMap<>();
        m.put("device_name", () -> cola_cuda_device_name(0, new byte[64], 64));
        m.put("set_device", () -> cola_cuda_set_device(0));
        m.put("device_synchronize", CudaKernels::cola_cuda_device_synchronize);
        m.put("malloc", () -> cola_cuda_malloc(new long[1], 16));
        m.put("free", () -> cola_cuda_free(0x1000));
        m.put("host_alloc", () -> cola_cuda_host_alloc(new long[1], 16));
        m.put("host_free", () -> cola_cuda_host_free(0x1000));
        m.put("memcpy_h2d", () -> cola_cuda_memcpy_h2d(0, 0, 4, 0));
        m.put("memcpy_d2h", () -> cola_cuda_memcpy_d2h(0, 0, 4, 0));
        m.put("memcpy_d2d", () -> cola_cuda_memcpy_d2d(0, 0, 4, 0));
        m.put("memset", () -> cola_cuda_memset(0, 0, 4, 0));
        m.put("stream_create", () -> cola_cuda_stream_create(new long[1]));
        m.put("stream_destroy", () -> cola_cuda_stream_destroy(0x1000));
        m.put("stream_synchronize", () -> cola_cuda_stream_synchronize(0));
        m.put("lora_linear_forward", () -> cola_cuda_lora_linear_forward(0, 0, 0, 0, 0, 1f, 0f, 0, 1, 1, 1, 1, 0));
        m.put("lora_linear_backward", () -> cola_cuda_lora_linear_backward(0, 0, 0, 0, 0, 0, 0, 0, 0, 1f, 0f, 0, 1, 1,
                1, 1, 0));
        m.put("lora_sgmv_forward", () -> cola_cuda_lora_sgmv_forward(0, 0, 0, 0, 0, 0, 0, 1, 0f, 0, 1, 1, 1, 1, 0));
        m.put("merge_f32", () -> cola_cuda_merge_f32(0, 0, 0, 1f, 1, 1, 1, 0));
        m.put("merge_bf16", () -> cola_cuda_merge_bf16(0, 0, 0, 1f, 1, 1, 1, 0, 0, new long[1], 0));
        m.put("layernorm_forward", () -> cola_cuda_layernorm_forward(0, 0, 0, 0, 0, 0, 1, 1, 1e-5f, 0));
        m.put("layernorm_backward", () -> cola_cuda_layernorm_backward(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0));
        m.put("rmsnorm_forward", () -> cola_cuda_rmsnorm_forward(0, 0, 0, 0, 1, 1, 1e-5f, 0));
        m.put("rmsnorm_backward", () -> cola_cuda_rmsnorm_backward(0, 0, 0, 0, 0, 0, 1, 1, 0));
        m.put("gelu_forward", () -> cola_cuda_gelu_forward(0, 0, 1, 0, 0));
        m.put("gelu_backward", () -> cola_cuda_gelu_backward(0, 0, 0, 1, 0, 0));
        m.put("relu_forward", () -> cola_cuda_relu_forward(0, 0, 1, 0));
        m.put("relu_backward", () -> cola_cuda_relu_backward(0, 0, 0, 1, 0));
        m.put("silu_forward", () -> cola_cuda_silu_forward(0, 0, 1, 0));
        m.put("silu_backward", () -> cola_cuda_silu_backward(0, 0, 0, 1, 0));
        m.put("swiglu_forward", () -> cola_cuda_swiglu_forward(0, 0, 0, 1, 0));
        m.put("swiglu_backward", () -> cola_cuda_swiglu_backward(0, 0, 0, 0, 0, 1, 0));
        m.put("add_forward", () -> cola_cuda_add_forward(0, 0, 0, 1, 0));
        m.put("embedding_forward", () -> cola_cuda_embedding_forward(0, 0, 0, 1, 1, 1, 0));
        m.put("embedding_backward", () -> cola_cuda_embedding_backward(0, 0, 0, 1, 1, 1, 0));
        m.put("rope_forward", () -> cola_cuda_rope_forward(0, 0, 0, 1, 1, 2, 1e4f, 0));
        m.put("rope_backward", () -> cola_cuda_rope_backward(0, 0, 0, 1, 1, 2, 1e4f, 0));
        m.put("attention_forward", () -> cola_cuda_attention_forward_window(0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 8, 1, 0, 1f, 0));
        m.put("attention_backward", () -> cola_cuda_attention_backward_window(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 8,
                1, 0, 1f, 0));
        m.put("softmax_xent_forward", () -> cola_cuda_softmax_xent_forward(0, 0, 0, 0, 1, 1, -100, 0));
        m.put("softmax_xent_backward", () -> cola_cuda_softmax_xent_backward(0, 0, 0, 0, 0, 1, 1, -100, 0));
        m.put("adamw_step", () -> cola_cuda_adamw_step(new long[1], new long[1], new long[1], new long[1],
                new long[] {1}, 1, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1, 1f, 0));
        m.put("sum_squares", () -> cola_cuda_sum_squares(0, new long[1], new long[] {1}, 1, 0));
        m.put("scale", () -> cola_cuda_scale(new long[1], new long[] {1}, 1, 0.5f, 0));
        m.put("dropout_forward", () -> cola_cuda_dropout_forward(0, 0, 1, 0.5f, 0, 0));
        m.put("dropout_backward", () -> cola_cuda_dropout_backward(0, 0, 1, 0.5f, 0, 0));
        m.put("copy_cols", () -> cola_cuda_copy_cols(0, 1, 0, 1, 1, 1, 0, 0));
        m.put("f32_to_bf16", () -> cola_cuda_f32_to_bf16(0, 0, 1, 0));
        m.put("bf16_to_f32", () -> cola_cuda_bf16_to_f32(0, 0, 1, 0));
        m.put("f32_to_f16", () -> cola_cuda_f32_to_f16(0, 0, 1, 0));
        m.put("f16_to_f32", () -> cola_cuda_f16_to_f32(0, 0, 1, 0));
        return m;
    }

    @Test
    void bindingLoadsAndDescribesTheRuntime() {
        CudaKernels.load();
        int stub = cola_cuda_is_stub();
        assertTrue(stub == 0 || stub == 1);
        int[] version = {-1};
        int code = cola_cuda_runtime_version(version);
        if (stub == 1) {
            assertEquals(STUB, code);
            assertEquals(0, version[0]);
        } else {
            assertEquals(0, code, "the statically linked runtime knows its version without a driver");
            assertTrue(version[0] >= 12000, "runtime version " + version[0]);
        }
        assertEquals("no error", cola_cuda_error_string(0));
        assertFalse(cola_cuda_error_string(35).isEmpty());
        if (stub == 0) assertEquals("cola: invalid argument", cola_cuda_error_string(ERR_ARG));
        assertEquals(0, cola_cuda_get_last_error() < 0 ? -1 : 0, "get_last_error is bound");
        assertFalse(CudaRuntime.describe().isEmpty());
    }

    @Test
    void everyOpRejectsBadSizesOnTheHostBeforeTouchingADevice() {
        int expected = cola_cuda_is_stub() == 1 ? STUB : ERR_ARG;
        for (Map.Entry<String, IntSupplier> e : rejectedCalls().entrySet()) {
            assertEquals(expected, e.getValue().getAsInt(), "cola_cuda_" + e.getKey());
        }
    }

    @Test
    void withoutAGpuEveryFunctionAnswersNoDeviceInsteadOfCrashing() {
        int[] count = {0};
        int noDevice = cola_cuda_device_count(count);
        if (CudaRuntime.usable()) {
            // A GPU is here: null pointers with real sizes would fault on it, so check the converse instead — the
            // runtime entry points succeed (the kernels themselves run in BackendParityTest).
            assertEquals(0, noDevice);
            assertTrue(count[0] > 0);
            assertEquals(0, cola_cuda_set_device(0));
            long[] s = {0};
            assertEquals(0, cola_cuda_stream_create(s));
            assertEquals(0, cola_cuda_stream_synchronize(s[0]));
            assertEquals(0, cola_cuda_stream_destroy(s[0]));
            return;
        }
        assertNotEquals(0, noDevice, "no usable device, so device_count must fail: " + CudaRuntime.describe());
        assertEquals(0, count[0]);
        if (cola_cuda_is_stub() == 1) assertEquals(STUB, noDevice);
        for (Map.Entry<String, IntSupplier> e : nullPointerCalls().entrySet()) {
            int code = e.getValue().getAsInt();
            assertTrue(code == noDevice || code == ERR_ARG, "cola_cuda_" + e.getKey() + " returned " + code
                    + " (" + cola_cuda_error_string(code) + "), expected the no-device code " + noDevice
                    + " or a host-side argument error " + ERR_ARG);
        }
        // A failed call leaves nothing behind that the next one would report as its own.
        cola_cuda_get_last_error();
        assertEquals(noDevice, cola_cuda_device_count(count));
    }
}
