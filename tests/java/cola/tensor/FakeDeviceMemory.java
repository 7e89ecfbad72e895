package cola.tensor;

import cola.backend.cpu.CpuKernels;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Test support: HOST memory posing as the memory of device cuda:7 (as in {@link DeviceTensorTest}), so device-resident
 * code paths (device tensors, device arenas, staged host access) run on a machine without a GPU.
 *
 * <p>{@link #hostAlias} is what lets a fake device backend compute with the CPU kernels: since the "device" memory
 * is host memory, a device tensor's address can be viewed as a host tensor (same address, dtype, shape) that the
 * CPU backend accepts. Aliases live in a {@link Scope} (one op call): tensors that share memory get aliases that share
 * memory too, so the CPU's aliasing checks ("must not alias") see what the device tensors are. An alias never owns
 * memory and dies with the device tensor it views.
 *
 * <p>Live blocks are tracked, so a test can check that a run freed every device allocation it made.
 */
public final class FakeDeviceMemory implements DeviceAllocator {
    private final Device device;
    private final Set<Long> live = new HashSet<>();
    private long liveBytes, peakBytes;
    private final Map<Long, Long> sizes = new HashMap<>();

    public FakeDeviceMemory(Device device) {
        if (device.kind() == Device.Kind.CPU) throw new IllegalArgumentException("a fake device is not the cpu");
        this.device = device;
    }

    @Override
    public Device device() {
        return device;
    }

    @Override
    public synchronized long allocate(long bytes) {
        CpuKernels.load();
        long a = CpuKernels.cola_alloc(bytes);
        if (a == 0) throw new IllegalStateException("fake device: out of memory for " + bytes + " bytes");
        live.add(a);
        sizes.put(a, bytes);
        liveBytes += bytes;
        peakBytes = Math.max(peakBytes, liveBytes);
        return a;
    }

    @Override
    public synchronized void free(long address) {
        if (!live.remove(address)) throw new IllegalStateException("fake device: free of " + address + ", not live");
        liveBytes -= sizes.remove(address);
        CpuKernels.cola_free(address);
    }

    @Override
    public void copyToHost(long hostDst, long deviceSrc, long bytes) {
        CpuKernels.cola_copy(hostDst, deviceSrc, bytes);
    }

    @Override
    public void copyFromHost(long deviceDst, long hostSrc, long bytes) {
        CpuKernels.cola_copy(deviceDst, hostSrc, bytes);
    }

    @Override
    public void copyOnDevice(long dst, long src, long bytes) {
        CpuKernels.cola_copy(dst, src, bytes);
    }

    @Override
    public void zero(long address, long bytes) {
        CpuKernels.cola_zero(address, bytes);
    }

    /** Blocks allocated and not yet freed. */
    public synchronized int liveBlocks() {
        return live.size();
    }

    public synchronized long liveBytes() {
        return liveBytes;
    }

    public synchronized long peakBytes() {
        return peakBytes;
    }

    /** One op call's host aliases. */
    public Scope scope() {
        return new Scope();
    }

    /** Host views of this fake device's tensors for one op call; tensors at one address share one alias storage. */
    public final class Scope {
        private final Map<Long, AliasStorage> byAddress = new HashMap<>();

        private Scope() {}

        /** A host tensor over the same memory as {@code t}, a live tensor of this fake device (null stays null). */
        public Tensor hostAlias(Tensor t) {
            if (t == null) return null;
            if (t.isHost() || !t.device().equals(device)) {
                throw new IllegalArgumentException("tensor " + t + " is not on " + device);
            }
            long address = t.address();  // throws for a closed or recycled tensor, as the real device would
            AliasStorage s = byAddress.computeIfAbsent(address, a -> new AliasStorage(t, a));
            return new Tensor(s, 0, t.dtype(), t.shape(), false);
        }
    }

    /**
     * Host memory at a device tensor's address. Its size bound is nominal: the device tensor's own bounds were checked
     * when it was made, and every alias has exactly the device tensor's dtype and shape.
     */
    private static final class AliasStorage extends Storage {
        private final Tensor of;
        private final long address;

        AliasStorage(Tensor of, long address) {
            super(Long.MAX_VALUE / 4, Device.CPU);
            this.of = of;
            this.address = address;
        }

        @Override
        long base() {
            if (of.isClosed()) throw new IllegalStateException("host alias of a device tensor that is gone");
            return address;
        }

        @Override
        boolean isAlive() {
            return !of.isClosed();
        }

        @Override
        void release() {
            throw new IllegalStateException("a host alias owns no memory");
        }

        @Override
        String deadReason() {
            return "the device tensor it aliases is gone";
        }
    }
}
