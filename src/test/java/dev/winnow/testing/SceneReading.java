package dev.winnow.testing;

import java.awt.image.BufferedImage;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Reads a shapes-scenes image as {@code shared/SCENES.md} tells any checker it may: the
 * background is the border's colour, an object is a connected region of pixels more than 60
 * (RGB distance) from it, specks under a third of the smallest object's area are noise, an
 * object's colour is the palette colour nearest its median pixel, its shape follows from how
 * much of its bounding box it fills and whether it widens downwards, its position is the
 * centre of its bounding box. A test's eyes, kept simpler than {@code models/tools/scenes_world.py}
 * (no sub-pixel edges) and for square images: the service never uses it.
 */
public record SceneReading(String background, List<Seen> objects) {

    /** One object: shape, palette colour, box centre as fractions of the side (y downwards). */
    public record Seen(String shape, String colour, double cx, double cy) {}

    static final Map<String, int[]> COLOURS = Map.of(
            "red", new int[] {220, 40, 40}, "green", new int[] {40, 170, 60}, "blue", new int[] {40, 80, 220},
            "yellow", new int[] {240, 220, 40}, "orange", new int[] {245, 140, 30},
            "purple", new int[] {140, 50, 170});
    static final Map<String, int[]> BACKGROUNDS = Map.of(
            "white", new int[] {245, 245, 245}, "black", new int[] {15, 15, 15}, "gray", new int[] {128, 128, 128});
    static final double MIN_OBJECT_AREA = 0.5 * 0.18 * 0.18; // a small triangle, as a fraction of the canvas

    public static SceneReading of(BufferedImage img) {
        int w = img.getWidth();
        int h = img.getHeight();
        int[][] px = new int[w * h][];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                px[y * w + x] = rgb(img, x, y);
            }
        }
        int[] bg = borderMedian(img);
        boolean[] fg = new boolean[w * h];
        for (int i = 0; i < fg.length; i++) {
            fg[i] = distance(px[i], bg) > 60;
        }
        int[] label = new int[w * h];
        List<Seen> seen = new ArrayList<>();
        int next = 0;
        for (int start = 0; start < fg.length; start++) {
            if (!fg[start] || label[start] != 0) {
                continue;
            }
            next++;
            List<Integer> comp = new ArrayList<>();
            ArrayDeque<Integer> queue = new ArrayDeque<>(List.of(start));
            label[start] = next;
            while (!queue.isEmpty()) {
                int i = queue.poll();
                comp.add(i);
                for (int dy = -1; dy <= 1; dy++) {
                    for (int dx = -1; dx <= 1; dx++) { // 8-connected, as scipy's label with a 3x3 structure
                        int x = i % w + dx;
                        int y = i / w + dy;
                        if (x >= 0 && y >= 0 && x < w && y < h && fg[y * w + x] && label[y * w + x] == 0) {
                            label[y * w + x] = next;
                            queue.add(y * w + x);
                        }
                    }
                }
            }
            if (comp.size() >= MIN_OBJECT_AREA * w * h / 3) {
                seen.add(measure(comp, px, w));
            }
        }
        return new SceneReading(nearest(bg, BACKGROUNDS), seen);
    }

    private static Seen measure(List<Integer> comp, int[][] px, int w) {
        int x0 = Integer.MAX_VALUE, y0 = Integer.MAX_VALUE, x1 = -1, y1 = -1;
        List<int[]> colours = new ArrayList<>();
        for (int i : comp) {
            x0 = Math.min(x0, i % w);
            x1 = Math.max(x1, i % w);
            y0 = Math.min(y0, i / w);
            y1 = Math.max(y1, i / w);
            colours.add(px[i]);
        }
        int bw = x1 - x0 + 1;
        int bh = y1 - y0 + 1;
        int[] rows = new int[bh];
        for (int i : comp) {
            rows[i / w - y0]++;
        }
        double fill = comp.size() / (double) (bw * bh);
        int k = Math.max(1, bh / 4);
        double top = Arrays.stream(rows, 0, k).average().orElse(0);
        double bottom = Arrays.stream(rows, bh - k, bh).average().orElse(0);
        String shape = fill < 0.66 && bottom > 1.6 * top + 0.5 ? "triangle" : fill > 0.9 ? "square" : "circle";
        return new Seen(shape, nearest(median(colours), COLOURS), (x0 + x1 + 1) / 2.0 / w, (y0 + y1 + 1) / 2.0 / w);
    }

    /** "a to the left of b" as SCENES.md defines it: b's centre at least 0.15 to the right, and more across than up or down. */
    public static boolean leftOf(Seen a, Seen b) {
        double dx = b.cx() - a.cx();
        double dy = b.cy() - a.cy();
        return dx >= 0.15 && Math.abs(dx) >= Math.abs(dy);
    }

    /** The background as SCENES.md reads it: the per-channel median of the border pixels. */
    static int[] borderMedian(BufferedImage img) {
        int w = img.getWidth();
        int h = img.getHeight();
        List<int[]> border = new ArrayList<>();
        for (int x = 0; x < w; x++) {
            border.add(rgb(img, x, 0));
            border.add(rgb(img, x, h - 1));
        }
        for (int y = 0; y < h; y++) {
            border.add(rgb(img, 0, y));
            border.add(rgb(img, w - 1, y));
        }
        return median(border);
    }

    static int[] rgb(BufferedImage img, int x, int y) {
        int v = img.getRGB(x, y);
        return new int[] {(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff};
    }

    private static int[] median(List<int[]> pixels) {
        int[] out = new int[3];
        for (int c = 0; c < 3; c++) {
            int ch = c;
            int[] v = pixels.stream().mapToInt(p -> p[ch]).sorted().toArray();
            out[c] = v[v.length / 2];
        }
        return out;
    }

    static double distance(int[] a, int[] b) {
        return Math.sqrt(Math.pow(a[0] - b[0], 2) + Math.pow(a[1] - b[1], 2) + Math.pow(a[2] - b[2], 2));
    }

    private static String nearest(int[] rgb, Map<String, int[]> palette) {
        return palette.entrySet().stream().min((p, q) -> Double.compare(distance(rgb, p.getValue()), distance(rgb, q.getValue())))
                .orElseThrow().getKey();
    }
}
