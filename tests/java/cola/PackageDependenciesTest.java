package cola;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The package layering of ARCHITECTURE.md, checked on the sources: every reference from one cola package to another
 * (imports and fully qualified names in code; comments stripped) forms a graph that must have no cycle, and the two
 * rules the design states outright hold — {@code tensor} depends on no other cola package, and nothing below
 * {@code model} (tensor, backend, io, optim, tokenizer, data) names {@code lora}, {@code chain}, {@code train} or
 * {@code cli}.
 */
class PackageDependenciesTest {
    static final Path SRC = Path.of("java");
    static final Pattern REF = Pattern.compile("\\bcola\\.((?:[a-z][a-z0-9]*\\.)*[a-z][a-z0-9]*)\\.[A-Z]");

    static Map<String, Set<String>> graph() throws IOException {
        Map<String, Set<String>> g = new TreeMap<>();
        try (Stream<Path> files = Files.walk(SRC.resolve("cola"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                String code = stripComments(Files.readString(f));
                Matcher pm = Pattern.compile("^package (cola(?:\\.[a-z0-9]+)*);", Pattern.MULTILINE).matcher(code);
                if (!pm.find()) continue;
                String from = pm.group(1).substring("cola.".length());
                Set<String> deps = g.computeIfAbsent(from, k -> new TreeSet<>());
                Matcher m = REF.matcher(code);
                while (m.find()) if (!m.group(1).equals(from)) deps.add(m.group(1));
            }
        }
        return g;
    }

    /** Code without // and block comments, keeping string literals (a string never names a package here). */
    static String stripComments(String s) {
        return s.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("(?m)//.*$", "");
    }

    @Test
    void thePackageGraphHasNoCycle() throws IOException {
        Map<String, Set<String>> g = graph();
        assertTrue(g.size() > 10, "found the packages: " + g.keySet());
        List<String> cycle = findCycle(g);
        assertEquals(List.of(), cycle, "a package cycle: " + String.join(" → ", cycle) + "\nthe graph: " + g);
    }

    @Test
    void tensorIsTheBottomAndNothingBelowModelKnowsTraining() throws IOException {
        Map<String, Set<String>> g = graph();
        assertEquals(Set.of(), g.get("tensor"), "tensor imports nothing else of cola");
        for (String low : List.of("tensor", "backend", "backend.cpu", "backend.cuda", "io", "optim", "tokenizer", "data")) {
            for (String dep : g.getOrDefault(low, Set.of())) {
                for (String high : List.of("lora", "chain", "train", "cli", "serve")) {
                    assertTrue(!dep.equals(high) && !dep.startsWith(high + "."), low + " depends on " + dep);
                }
            }
        }
    }

    /** A cycle as a list of packages (first = last), or empty. */
    static List<String> findCycle(Map<String, Set<String>> g) {
        Map<String, Integer> state = new TreeMap<>();  // 1 on the stack, 2 done
        List<String> stack = new ArrayList<>();
        for (String start : g.keySet()) {
            List<String> c = dfs(g, start, state, stack);
            if (!c.isEmpty()) return c;
        }
        return List.of();
    }

    static List<String> dfs(Map<String, Set<String>> g, String n, Map<String, Integer> state, List<String> stack) {
        Integer st = state.get(n);
        if (st != null && st == 2) return List.of();
        if (st != null && st == 1) {
            List<String> c = new ArrayList<>(stack.subList(stack.indexOf(n), stack.size()));
            c.add(n);
            return c;
        }
        state.put(n, 1);
        stack.add(n);
        for (String d : g.getOrDefault(n, Set.of())) {
            List<String> c = dfs(g, d, state, stack);
            if (!c.isEmpty()) return c;
        }
        stack.remove(stack.size() - 1);
        state.put(n, 2);
        return List.of();
    }
}
