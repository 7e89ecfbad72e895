/*
 * cola_cuda.h — the C ABI of libcola_cuda. Built by nvcc (sm_80, sm_90, static CUDA runtime) when a CUDA compiler is
 * present, else as a stub with the same functions (cuda/stub/cola_cuda_stub.cpp) that return COLA_CUDA_ERR_STUB.
 * Every function returns a cudaError_t value (0 = success): with no driver that is 35 (insufficient driver) or 100
 * (no device), never a crash, so the Java layer can probe it on any machine.
 * The kernels of every op (issue 6) will join this header with the same names as cola_cpu.h (cola_cuda_<op>).
 */
#ifndef COLA_CUDA_H
#define COLA_CUDA_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

enum { COLA_CUDA_ERR_STUB = 100 }; /* same number as cudaErrorNoDevice: the stub has no device by construction */

int cola_cuda_is_stub(void);                          /* 1 for the stub build */
int cola_cuda_runtime_version(int* version);          /* CUDA runtime linked in, e.g. 13000 */
int cola_cuda_device_count(int* count);
int cola_cuda_device_name(int device, char* buf, int len);
const char* cola_cuda_error_string(int code);

#ifdef __cplusplus
}
#endif
#endif
