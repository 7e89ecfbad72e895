package cola.cli;

import cola.backend.cpu.CpuBackend;
import cola.io.SafetensorsWriter;
import cola.model.Precision;
import cola.tensor.Tensor;
import cola.train.Probe;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cola probe}: one forward + backward for checking cola against any other implementation. */
@Command(name = "probe", mixinStandardHelpOptions = true,
        description = {"Run one forward and backward of the mean cross-entropy and write F32 tensors:",
                "logits [B, T, V] (or [B, labels]), loss [] and, with --adapter, grad.<PEFT key> for every adapter tensor.",
                "inputs.json: {\"input_ids\": [[...]], \"attention_mask\": [[...]] (optional), \"token_type_ids\" (BERT, optional),",
                "\"labels\": [[...]] (optional; causal LMs default to next-token labels; -100 = ignore) or [class, ...]}."})
final class ProbeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model folder (config.json + safetensors).")
    Path model;

    @Option(names = "--input", required = true, paramLabel = "FILE", description = "inputs.json (see above).")
    Path input;

    @Option(names = "--adapter", paramLabel = "DIR", description = "PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors).")
    Path adapter;

    @Option(names = "--dtype", defaultValue = "auto", description = "Frozen weights: auto (bf16 for a bf16/f16 checkpoint on a CPU with bf16 units, else f32), bf16 or f32; the outputs are f32 either way (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Output .safetensors file (written atomically).")
    Path out;

    @Override
    public Integer call() throws Exception {
        Map<String, Tensor> result = Probe.run(CpuBackend.get(), model, input, adapter, Precision.Choice.parse(dtype));
        try {
            SafetensorsWriter.write(out, result, Map.of("format", "pt", "producer", "cola probe"));
            System.out.printf("loss %.6f; wrote %d tensors to %s%n", result.get("loss").item(), result.size(), out);
        } finally {
            for (Tensor t : result.values()) t.close();
        }
        return 0;
    }
}
