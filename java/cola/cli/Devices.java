package cola.cli;

import cola.backend.Backend;
import cola.backend.cpu.CpuBackend;
import cola.backend.cuda.CudaRuntime;

/** --device: cpu, cuda, cuda:N or auto. */
final class Devices {
    private Devices() {}

    static Backend select(String device) {
        switch (device) {
            case "cpu":
                return CpuBackend.get();
            case "auto":
                return CpuBackend.get();  // the CUDA backend is not wired yet: auto means the CPU
            default:
                if (device.equals("cuda") || device.startsWith("cuda:")) {
                    throw new IllegalStateException("--device " + device + ": the CUDA backend is not available in this build ("
                            + CudaRuntime.describe() + ")");
                }
                throw new IllegalArgumentException("--device must be cpu, cuda, cuda:N or auto, got '" + device + "'");
        }
    }
}
