package dev.winnow.capacity;

import java.util.List;

/**
 * What one call of a model costs by its batch size: measured points, milliseconds per call, read
 * between them by linear interpolation. Below the smallest size a call costs what the smallest
 * did (a call never gets cheaper than the smallest measured); past the largest it grows along the
 * last segment's slope (one point: flat), so a profile measured up to 32 rows still answers for
 * 40.
 *
 * @param sizes batch sizes, strictly increasing (rows for the UNet, images for the VAE and the
 *              judges, prompts for the text encoder)
 * @param ms    milliseconds per call at each size
 */
public record Curve(List<Integer> sizes, List<Double> ms) {

    public Curve {
        sizes = List.copyOf(sizes);
        ms = List.copyOf(ms);
        if (sizes.isEmpty() || sizes.size() != ms.size()) {
            throw new IllegalArgumentException("a curve needs as many times as sizes, and at least one, got "
                    + sizes.size() + " sizes and " + ms.size() + " times");
        }
        for (int i = 0; i < sizes.size(); i++) {
            if (sizes.get(i) < 1 || (i > 0 && sizes.get(i) <= sizes.get(i - 1))) {
                throw new IllegalArgumentException("a curve's sizes must be positive and increasing, got " + sizes);
            }
            if (!(ms.get(i) >= 0)) {
                throw new IllegalArgumentException("a curve's times must be non-negative, got " + ms);
            }
        }
    }

    /** A curve that costs {@code ms} whatever the size. */
    public static Curve flat(double ms) {
        return new Curve(List.of(1), List.of(ms));
    }

    /** Milliseconds of one call of {@code size}. */
    public double millis(int size) {
        int last = sizes.size() - 1;
        if (size <= sizes.get(0)) {
            return ms.get(0);
        }
        for (int i = 1; i <= last; i++) {
            if (size <= sizes.get(i)) {
                double f = (double) (size - sizes.get(i - 1)) / (sizes.get(i) - sizes.get(i - 1));
                return ms.get(i - 1) + f * (ms.get(i) - ms.get(i - 1));
            }
        }
        if (last == 0) {
            return ms.get(0);
        }
        double slope = Math.max(0, (ms.get(last) - ms.get(last - 1)) / (sizes.get(last) - sizes.get(last - 1)));
        return ms.get(last) + slope * (size - sizes.get(last));
    }

    /** Nanoseconds of one call of {@code size}. */
    public long nanos(int size) {
        return Math.round(millis(size) * 1e6);
    }
}
