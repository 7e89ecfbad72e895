// Device discovery over the statically linked CUDA runtime. Safe on machines without a driver: the runtime returns
// cudaErrorInsufficientDriver (35) or cudaErrorNoDevice (100), which we pass up.
#include <cuda_runtime.h>
#include <cstring>
#include "cola_cuda.h"

extern "C" {
int cola_cuda_is_stub(void) { return 0; }
int cola_cuda_runtime_version(int* version) { return (int)cudaRuntimeGetVersion(version); }
int cola_cuda_device_count(int* count) {
    *count = 0;
    cudaError_t e = cudaGetDeviceCount(count);
    if (e != cudaSuccess) { *count = 0; cudaGetLastError(); }
    return (int)e;
}
int cola_cuda_device_name(int device, char* buf, int len) {
    cudaDeviceProp prop;
    cudaError_t e = cudaGetDeviceProperties(&prop, device);
    if (e != cudaSuccess) { if (len > 0) buf[0] = 0; return (int)e; }
    std::strncpy(buf, prop.name, (size_t)len);
    if (len > 0) buf[len - 1] = 0;
    return 0;
}
const char* cola_cuda_error_string(int code) { return cudaGetErrorString((cudaError_t)code); }
}
