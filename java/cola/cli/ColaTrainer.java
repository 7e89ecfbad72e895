package cola.cli;

import cola.backend.cpu.CpuBackend;
import cola.backend.cpu.CpuKernels;
import cola.backend.cuda.CudaRuntime;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * cola's command line: {@code info} (what the engine runs on: version, CPU ISA, GEMM library, threads, CUDA) and
 * {@code probe} (one forward/backward for parity checks), {@code tokenize} (Hugging Face tokenizers) and {@code import}
 * (ONNX BERT encoders), train / compare / eval / export (fine-tuning and its outputs) and init (random models). Errors print one line naming the file, field or tensor (COLA_DEBUG=1 adds the stack trace).
 */
@Command(name = "cola", mixinStandardHelpOptions = true, versionProvider = ColaTrainer.Version.class,
        description = {"cola: LoRA and Chain-of-LoRA (COLA) fine-tuning on the JVM.", ""},
        subcommands = {ColaTrainer.Info.class, TrainCommand.class, CompareCommand.class, EvalCommand.class, ExportCommand.class,
                InitCommand.class, ProbeCommand.class, TokenizeCommand.class, ImportCommand.class,
                CommandLine.HelpCommand.class})
public final class ColaTrainer implements Callable<Integer> {

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The command line with cola's error handling: a bad input is one clear line, not a stack trace. */
    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new ColaTrainer());
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            String msg = e instanceof java.nio.file.NoSuchFileException ? "no such file: " + e.getMessage()
                    : e.getMessage() != null ? e.getMessage() : e.toString();
            cmd.getErr().println("cola " + cmd.getCommandName() + ": " + msg);
            if (System.getenv("COLA_DEBUG") != null) e.printStackTrace(cmd.getErr());
            return 2;
        });
        return cl;
    }

    @Override
    public Integer call() throws java.io.IOException {
        return new Info().call();
    }

    /** Prints the runtime report; also what `java -jar cola.jar` with no arguments does. */
    @Command(name = "info", mixinStandardHelpOptions = true, description = "Print the version, CPU features, GEMM library,"
            + " bf16 units, threads and CUDA status; with --model, what cola makes of a Hugging Face folder (family,"
            + " parameters, stored dtype, what --dtype picks, memory estimates) without loading its weights.")
    static final class Info implements Callable<Integer> {
        @picocli.CommandLine.Option(names = "--model", paramLabel = "DIR", description = "A Hugging Face model folder to describe.")
        java.nio.file.Path model;

        @picocli.CommandLine.Option(names = "--dtype", defaultValue = "auto", description = "The --dtype to estimate for: auto, bf16 or f32 (default: ${DEFAULT-VALUE}).")
        String dtype;

        @picocli.CommandLine.Option(names = "--batch-size", defaultValue = "8", description = "Batch size of the training estimate (default: ${DEFAULT-VALUE}).")
        int batch;

        @picocli.CommandLine.Option(names = "--max-length", defaultValue = "512", description = "Tokens per row of the training estimate (default: ${DEFAULT-VALUE}).")
        int seqLen;

        @Override
        public Integer call() throws java.io.IOException {
            System.out.println("cola " + Version.VERSION + " (native " + nativeVersion() + ")");
            System.out.println("  java       " + System.getProperty("java.version") + " on "
                    + System.getProperty("os.name") + " " + System.getProperty("os.arch"));
            System.out.println("  cpu isa    " + CpuBackend.isa() + " (runtime dispatch: avx512 / avx2 / scalar)");
            System.out.println("  gemm       " + CpuBackend.gemmLibrary());
            String units = CpuBackend.bf16Units();
            System.out.println("  bf16       " + (units.isEmpty() ? "no bf16 units: --dtype auto picks f32, --dtype bf16 is refused"
                    : units + ": --dtype auto picks bf16 for bf16/f16 checkpoints, f32 for f32 ones"));
            System.out.println("  threads    " + CpuBackend.maxThreads() + " (OMP_NUM_THREADS to change)");
            System.out.println("  cuda       " + CudaRuntime.describe());
            if (model != null) {
                if (batch < 1 || seqLen < 1) throw new IllegalArgumentException("--batch-size and --max-length must be >= 1");
                for (String l : cola.model.ModelSummary.describe(model, CpuBackend.get(),
                        cola.model.Precision.Choice.parse(dtype), batch, seqLen)) {
                    System.out.println("  " + l);
                }
            }
            return 0;
        }

        private static String nativeVersion() {
            CpuKernels.load();
            return CpuKernels.cola_cpu_version();
        }
    }

    static final class Version implements CommandLine.IVersionProvider {
        static final String VERSION = "0.1.0";

        @Override
        public String[] getVersion() {
            return new String[] {"cola " + VERSION};
        }
    }
}
