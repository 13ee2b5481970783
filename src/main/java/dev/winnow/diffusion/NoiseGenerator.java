package dev.winnow.diffusion;

import dev.winnow.diffusion.scheduler.GaussianNoise;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The normal generators a candidate's seed can drive. Which one a pack uses is part of what its
 * images are, so the pack names it ({@code winnow_noise} in {@code model_index.json}) and a new
 * choice comes with a new pack version; a pack that names none keeps the first generator, so the
 * seeds of every pack made before the choice existed give the images they always gave
 * (docs/DETERMINISM.md).
 */
public enum NoiseGenerator {

    /** xoshiro256** and Box–Muller ({@link SeededGaussian}): every pack that names no generator. */
    BOX_MULLER("box-muller"),
    /** xoshiro256** and the ziggurat ({@link ZigguratGaussian}): about ten times faster. */
    ZIGGURAT("ziggurat"),
    /**
     * 16 xoshiro128+ lanes and Box–Muller in float polynomials ({@link VectorBoxMuller}): about six
     * times faster again where the JVM has the Vector API ({@code --add-modules
     * jdk.incubator.vector}); new packs' choice.
     */
    VECTOR_BOX_MULLER("vector-box-muller");

    private final String packName;

    NoiseGenerator(String packName) {
        this.packName = packName;
    }

    /** What {@code winnow_noise} says for it. */
    public String packName() {
        return packName;
    }

    /** A candidate's generator for its seed. */
    public GaussianNoise create(long seed) {
        return switch (this) {
            case BOX_MULLER -> new SeededGaussian(seed);
            case ZIGGURAT -> new ZigguratGaussian(seed);
            case VECTOR_BOX_MULLER -> new VectorBoxMuller(seed);
        };
    }

    /**
     * How this JVM draws it: "scalar", or for {@link #VECTOR_BOX_MULLER} "SIMD, N lanes" where the
     * Vector API and C2 are there (the values are the same either way).
     */
    public String implementation() {
        return this == VECTOR_BOX_MULLER ? VectorBoxMuller.implementation() : "scalar";
    }

    /**
     * Whether this JVM draws it on the slow path it was not made for: {@link #VECTOR_BOX_MULLER}
     * without the Vector API module or C2 (the same values, about ten times the time).
     */
    public boolean missesItsSimdPath() {
        return this == VECTOR_BOX_MULLER && !VectorBoxMuller.drawsWithSimd();
    }

    /** The generator {@code winnow_noise} names; null or absent: {@link #BOX_MULLER}. */
    public static NoiseGenerator named(String name) {
        if (name == null) {
            return BOX_MULLER;
        }
        for (NoiseGenerator g : values()) {
            if (g.packName.equals(name.toLowerCase(Locale.ROOT))) {
                return g;
            }
        }
        throw new IllegalArgumentException("unknown noise generator '" + name + "'; known: "
                + Arrays.stream(values()).map(NoiseGenerator::packName).collect(Collectors.joining(", ")));
    }
}
