package dev.winnow.testing;

import dev.winnow.image.RgbImage;
import java.awt.image.BufferedImage;

/**
 * A small colour check for tests: the background is the median of the border pixels, the
 * foreground the mean of the pixels far from it.
 */
public record DominantColours(Rgb background, Rgb foreground) {

    public record Rgb(int r, int g, int b) {
        public boolean isNear(int r2, int g2, int b2, double tolerance) {
            double d = Math.sqrt(Math.pow(r - r2, 2) + Math.pow(g - g2, 2) + Math.pow(b - b2, 2));
            return d <= tolerance;
        }
    }

    public static DominantColours of(RgbImage img) {
        BufferedImage b = new BufferedImage(img.width(), img.height(), BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < img.height(); y++) {
            for (int x = 0; x < img.width(); x++) {
                b.setRGB(x, y, img.channel(x, y, 0) << 16 | img.channel(x, y, 1) << 8 | img.channel(x, y, 2));
            }
        }
        return of(b);
    }

    public static DominantColours of(BufferedImage img) {
        int w = img.getWidth();
        int h = img.getHeight();
        int[] bg = SceneReading.borderMedian(img);
        long[] sum = new long[3];
        int count = 0;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int[] p = SceneReading.rgb(img, x, y);
                if (SceneReading.distance(p, bg) > 60) {
                    sum[0] += p[0];
                    sum[1] += p[1];
                    sum[2] += p[2];
                    count++;
                }
            }
        }
        Rgb fg = count == 0 ? new Rgb(bg[0], bg[1], bg[2])
                : new Rgb((int) (sum[0] / count), (int) (sum[1] / count), (int) (sum[2] / count));
        return new DominantColours(new Rgb(bg[0], bg[1], bg[2]), fg);
    }
}
