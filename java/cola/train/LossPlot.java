package cola.train;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** A plain SVG of training loss per step for each run, the chain's knots as dashed vertical lines. No dependencies. */
public final class LossPlot {
    private static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

    private LossPlot() {}

    /** @param runs method name → step log (same step count for every run) */
    public static void write(Path file, Map<String, List<Trainer.StepLog>> runs) throws IOException {
        int w = 720, h = 360, left = 50, right = 20, top = 30, bottom = 40;
        int steps = 1;
        double max = 1e-9;
        for (List<Trainer.StepLog> log : runs.values()) {
            steps = Math.max(steps, log.size());
            for (Trainer.StepLog s : log) if (Double.isFinite(s.loss())) max = Math.max(max, s.loss());
        }
        double sx = (double) (w - left - right) / Math.max(1, steps - 1), sy = (h - top - bottom) / max;
        StringBuilder svg = new StringBuilder();
        svg.append(String.format(Locale.ROOT, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif' font-size='12'>%n", w, h));
        svg.append(String.format(Locale.ROOT, "<rect width='%d' height='%d' fill='white'/>%n", w, h));
        svg.append(String.format(Locale.ROOT, "<text x='%d' y='18'>training loss per step (dashed: COLA knots)</text>%n", left));
        svg.append(String.format(Locale.ROOT, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='black'/>%n", left, h - bottom, w - right, h - bottom));
        svg.append(String.format(Locale.ROOT, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='black'/>%n", left, top, left, h - bottom));
        svg.append(String.format(Locale.ROOT, "<text x='%d' y='%d'>0</text><text x='%d' y='%d'>%.2f</text>%n", left - 15, h - bottom, 5, top + 4, max));
        svg.append(String.format(Locale.ROOT, "<text x='%d' y='%d'>step %d</text>%n", w - right - 60, h - 10, steps));
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
            svg.append(String.format(Locale.ROOT, "<text x='%d' y='%d' fill='%s'>%s</text>%n", w - right - 120, top + 16 * (i + 1), color, run.getKey()));
            i++;
        }
        svg.append("</svg>\n");
        Files.writeString(file, svg, StandardCharsets.UTF_8);
    }
}
