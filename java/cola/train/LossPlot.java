package cola.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The run's plots as small hand-written SVGs (no plotting library needed for two line charts): training loss per step
 * with the knots of each chain dashed and the dev metric per epoch as dots on a right-hand axis; and the singular-value
 * spectrum of ΔW per method.
 */
public final class LossPlot {
    private static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

    private LossPlot() {}

    /** @param runs method name → step log (same step count for every run) */
    public static void write(Path file, Map<String, List<Trainer.StepLog>> runs) throws IOException {
        write(file, runs, Map.of(), null);
    }

    /**
     * @param dev      method name → {step, value} per epoch (value in [0, 1] for accuracy; any positive for loss)
     * @param devLabel the right axis' label ("dev accuracy"), or null without dev points
     */
    public static void write(Path file, Map<String, List<Trainer.StepLog>> runs, Map<String, List<double[]>> dev,
            String devLabel) throws IOException {
        int w = 720, h = 360, left = 50, right = 60, top = 30, bottom = 40;
        int steps = 1;
        double max = 1e-9, devMax = 1e-9;
        for (List<Trainer.StepLog> log : runs.values()) {
            steps = Math.max(steps, log.size());
            for (Trainer.StepLog s : log) if (Double.isFinite(s.loss())) max = Math.max(max, s.loss());
        }
        for (List<double[]> d : dev.values()) for (double[] p : d) if (Double.isFinite(p[1])) devMax = Math.max(devMax, p[1]);
        if (devLabel != null && devLabel.contains("accuracy")) devMax = 1.0;
        double sx = (double) (w - left - right) / Math.max(1, steps - 1), sy = (h - top - bottom) / max;
        double sd = (h - top - bottom) / devMax;
        StringBuilder svg = new StringBuilder();
        svg.append(String.format(Locale.ROOT, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif' font-size='12'>%n", w, h));
        svg.append(String.format(Locale.ROOT, "<rect width='%d' height='%d' fill='white'/>%n", w, h));
        svg.append(String.format(Locale.ROOT, "<text x='%d' y='18'>training loss per step (dashed: COLA knots)%s</text>%n", left,
                devLabel != null ? "; dots: " + devLabel + " per epoch (right axis)" : ""));
        svg.append(String.format(Locale.ROOT, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='black'/>%n", left, h - bottom, w - right, h - bottom));
        svg.append(String.format(Locale.ROOT, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='black'/>%n", left, top, left, h - bottom));
        svg.append(String.format(Locale.ROOT, "<text x='%d' y='%d'>0</text><text x='%d' y='%d'>%.2f</text>%n", left - 15, h - bottom, 5, top + 4, max));
        svg.append(String.format(Locale.ROOT, "<text x='%d' y='%d'>step %d</text>%n", w - right - 60, h - 10, steps));
        if (devLabel != null && !dev.isEmpty()) {
            svg.append(String.format(Locale.ROOT, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='gray'/>%n", w - right, top, w - right, h - bottom));
            svg.append(String.format(Locale.ROOT, "<text x='%d' y='%d'>%.2f</text><text x='%d' y='%d'>0</text>%n", w - right + 4,
                    top + 4, devMax, w - right + 4, h - bottom));
        }
        int i = 0;
        for (Map.Entry<String, List<Trainer.StepLog>> run : runs.entrySet()) {
            String color = COLORS[i % COLORS.length];
            StringBuilder pts = new StringBuilder();
            for (Trainer.StepLog s : run.getValue()) {
                if (!Double.isFinite(s.loss())) continue;
                pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", left + s.step() * sx, h - bottom - s.loss() * sy));
                if (s.knot()) {
                    svg.append(String.format(Locale.ROOT, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='%s' stroke-dasharray='4,3'/>%n",
                            left + s.step() * sx, top, left + s.step() * sx, h - bottom, color));
                }
            }
            svg.append(String.format(Locale.ROOT, "<polyline fill='none' stroke='%s' stroke-width='1.5' points='%s'/>%n", color, pts.toString().trim()));
            for (double[] p : dev.getOrDefault(run.getKey(), List.of())) {
                if (!Double.isFinite(p[1])) continue;
                svg.append(String.format(Locale.ROOT, "<circle cx='%.1f' cy='%.1f' r='4' fill='%s'/>%n", left + Math.max(0, p[0] - 1) * sx,
                        h - bottom - p[1] * sd, color));
            }
            svg.append(String.format(Locale.ROOT, "<text x='%d' y='%d' fill='%s'>%s</text>%n", w - right - 120, top + 16 * (i + 1), color, run.getKey()));
            i++;
        }
        svg.append("</svg>\n");
        cola.io.AtomicFiles.writeString(file, svg.toString());
    }

    /** Singular values of ΔW (normalised by the largest, log scale down to 1e-4) per method, index on x. */
    public static void writeSpectrum(Path file, Map<String, double[]> spectra) throws IOException {
        int w = 720, h = 360, left = 60, right = 20, top = 30, bottom = 40;
        int n = 1;
        for (double[] s : spectra.values()) n = Math.max(n, s.length);
        double sx = (double) (w - left - right) / Math.max(1, n - 1), decades = 4, sy = (h - top - bottom) / decades;
        StringBuilder svg = new StringBuilder();
        svg.append(String.format(Locale.ROOT, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif' font-size='12'>%n", w, h));
        svg.append(String.format(Locale.ROOT, "<rect width='%d' height='%d' fill='white'/>%n", w, h));
        svg.append(String.format(Locale.ROOT, "<text x='%d' y='18'>singular values of ΔW = W − W0 (mean over adapted matrices, / largest, log)</text>%n", left));
        svg.append(String.format(Locale.ROOT, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='black'/>%n", left, h - bottom, w - right, h - bottom));
        svg.append(String.format(Locale.ROOT, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='black'/>%n", left, top, left, h - bottom));
        for (int d = 0; d <= decades; d++) {
            svg.append(String.format(Locale.ROOT, "<text x='%d' y='%.1f'>1e-%d</text>%n", 10, top + d * sy + 4, d));
        }
        svg.append(String.format(Locale.ROOT, "<text x='%d' y='%d'>index (1 … %d)</text>%n", w - right - 110, h - 10, n));
        int i = 0;
        for (Map.Entry<String, double[]> e : spectra.entrySet()) {
            String color = COLORS[i % COLORS.length];
            StringBuilder pts = new StringBuilder();
            double[] s = e.getValue();
            for (int k = 0; k < s.length; k++) {
                double lg = Math.max(-decades, Math.log10(Math.max(1e-30, s[k])));
                pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", left + k * sx, top - lg * sy));
            }
            svg.append(String.format(Locale.ROOT, "<polyline fill='none' stroke='%s' stroke-width='1.5' points='%s'/>%n", color, pts.toString().trim()));
            svg.append(String.format(Locale.ROOT, "<text x='%d' y='%d' fill='%s'>%s</text>%n", w - right - 120, top + 16 * (i + 1), color, e.getKey()));
            i++;
        }
        svg.append("</svg>\n");
        cola.io.AtomicFiles.writeString(file, svg.toString());
    }
}
