// libcola_cuda without a CUDA compiler: the same C ABI, every call answers "no device".
#include "cola_cuda.h"

extern "C" {
int cola_cuda_is_stub(void) { return 1; }
int cola_cuda_runtime_version(int* version) { if (version) *version = 0; return COLA_CUDA_ERR_STUB; }
int cola_cuda_device_count(int* count) { if (count) *count = 0; return COLA_CUDA_ERR_STUB; }
int cola_cuda_device_name(int, char* buf, int len) { if (buf && len > 0) buf[0] = 0; return COLA_CUDA_ERR_STUB; }
const char* cola_cuda_error_string(int code) {
    return code == 0 ? "no error" : "libcola_cuda was built without a CUDA compiler (stub)";
}
}
