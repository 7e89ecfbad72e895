package cola.lora;

import cola.backend.Backend;
import cola.model.Linear;
import cola.model.LoraAdapter;
import cola.model.Transformer;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Puts fresh LoRA adapters on a model's target layers (A initialised, B = 0) and re-initialises them at a knot. */
public final class Lora {
    private Lora() {}

    /**
     * Attaches a new adapter to every linear layer the config targets ("all-linear": every linear except the
     * classification head and pooler, as PEFT excludes the output layer). Returns the adapters (caller owns them).
     */
    public static List<LoraAdapter> attach(Transformer model, LoraConfig cfg) {
        List<LoraAdapter> out = new ArrayList<>();
        Backend be = model.backend();
        for (Linear lin : model.linears()) {
            boolean head = lin == model.classifier() || lin.path.endsWith("pooler.dense");
            boolean hit = cfg.allLinear() ? !head : cfg.targets(lin.path);
            if (!hit) continue;
            if (lin.lora() != null) {
                for (LoraAdapter a : out) a.close();
                throw new IllegalStateException(lin.path + " already has an adapter");
            }
            int r = cfg.rankFor(lin.path);
            Tensor a = be.zeros(DType.F32, r, lin.in);
            Tensor b = be.zeros(DType.F32, lin.out, r);
            LoraAdapter ad = new LoraAdapter(be, lin.path, a, b, LoraAdapter.scale(cfg.alpha(), r, cfg.rslora()),
                    (float) cfg.dropout());
            initA(ad, cfg.init(), cfg.seed());
            lin.setLora(ad);
            out.add(ad);
        }
        if (out.isEmpty()) {
            List<String> names = new ArrayList<>();
            for (Linear l : model.linears()) names.add(l.moduleName());
            throw new IllegalArgumentException("LoRA target modules " + cfg.targets() + " match no layer of this "
                    + model.config.architecture() + "; its linear layers are named " + names.stream().distinct().toList());
        }
        return out;
    }

    /** A ← its initialisation (seeded per module so each layer differs and runs reproduce); B stays as is. */
    public static void initA(LoraAdapter ad, LoraConfig.Init init, long seed) {
        SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ ad.modulePath.hashCode());
        int r = (int) ad.a.dim(0), in = (int) ad.a.dim(1);
        float[] v = new float[r * in];
        if (init == LoraConfig.Init.KAIMING_UNIFORM) {
            double bound = 1.0 / Math.sqrt(in);
            for (int i = 0; i < v.length; i++) v[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
        } else {
            double std = 1.0 / r;
            for (int i = 0; i < v.length; i++) v[i] = (float) (gaussian(rng) * std);
        }
        ad.a.copyFrom(v);
    }

    private static double gaussian(SplittableRandom rng) {
        double u1 = rng.nextDouble(), u2 = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    }

    /** Detaches and closes adapters. */
    public static void detach(Transformer model, List<LoraAdapter> adapters) {
        for (LoraAdapter a : adapters) {
            Linear l = model.linear(a.modulePath);
            if (l != null && l.lora() == a) l.setLora(null);
            a.close();
        }
    }
}
