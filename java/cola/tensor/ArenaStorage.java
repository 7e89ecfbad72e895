package cola.tensor;

/** A slice of an {@link Arena} chunk, valid during its generation until a release past it. */
final class ArenaStorage extends Storage {
    private final Arena arena;
    private final long generation;
    private final long seq;
    private final long address;

    ArenaStorage(Arena arena, long generation, long seq, long address, long bytes) {
        super(bytes, arena.device(), arena.allocator());
        this.arena = arena;
        this.generation = generation;
        this.seq = seq;
        this.address = address;
    }

    @Override
    long base() {
        if (!isAlive()) throw new IllegalStateException("arena tensor used after " + deadReason());
        return address;
    }

    @Override
    boolean isAlive() {
        return arena.isLive(generation, seq);
    }

    @Override
    void release() {
        throw new IllegalStateException("arena tensors are freed by Arena.reset()/close(), not one by one");
    }

    @Override
    String deadReason() {
        return arena.isClosed() ? "the arena was closed" : "the arena was reset or released past it";
    }
}
