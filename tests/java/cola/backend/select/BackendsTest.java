package cola.backend.select;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.Backend;
import cola.backend.cpu.CpuBackend;
import cola.backend.cuda.CudaBackend;
import cola.backend.cuda.CudaRuntime;
import cola.tensor.Device;
import org.junit.jupiter.api.Test;

/** Device selection. Runs everywhere: each test checks the branch this machine is on (GPU or not), none skips. */
class BackendsTest {

    @Test
    void cpuIsAlwaysTheCpuBackend() {
        assertSame(CpuBackend.get(), Backends.select("cpu"));
        assertSame(CpuBackend.get(), Backends.select(" CPU "));
    }

    @Test
    void autoPicksCudaOnlyWhenUsable() {
        Backend b = Backends.select("auto");
        if (CudaRuntime.usable()) {
            assertInstanceOf(CudaBackend.class, b);
            assertEquals(Device.cuda(0), b.device());
        } else {
            assertSame(CpuBackend.get(), b, "no usable GPU here (" + CudaRuntime.describe() + "): auto must be cpu");
        }
    }

    @Test
    void cudaWithoutADeviceIsAClearError() {
        for (String d : new String[] {"cuda", "cuda:0", "cuda:3"}) {
            if (CudaRuntime.usable() && !d.equals("cuda:3")) {
                assertEquals(Device.cuda(0), Backends.select(d).device());
                continue;
            }
            if (CudaRuntime.usable() && CudaRuntime.deviceCount() > 3) continue;  // cuda:3 exists on this machine
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> Backends.select(d));
            assertTrue(e.getMessage().contains(CudaRuntime.describe()), e.getMessage());
            assertTrue(e.getMessage().contains("'" + d + "'"), e.getMessage());
        }
    }

    @Test
    void unknownDevicesNameTheValidValues() {
        for (String d : new String[] {"gpu", "cuda:", "cuda:-1", "cuda:x", "tpu", ""}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.select(d));
            assertTrue(e.getMessage().contains("cpu, cuda, cuda:N (N = device number), auto"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Backends.select(null));
    }
}
