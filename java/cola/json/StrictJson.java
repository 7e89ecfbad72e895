package cola.json;

import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

/**
 * The one JSON reader for inputs (config.json, adapter_config.json, the sharded index, inputs.json, tokenizer.json,
 * vocab.json, run configs, JSONL lines): strict where Jackson is lenient by default — a duplicate key and anything
 * after the value (a second object, trailing garbage) are errors, not silently last-wins or ignored. Imports nothing of
 * cola, so every package may use it.
 */
public final class StrictJson {
    private StrictJson() {}

    public static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();
}
