package dev.winnow.diffusion;

import java.lang.management.ManagementFactory;

/**
 * The arithmetic of {@link VectorBoxMuller}: blocks of 32 normals from 16 xoshiro128+ lanes. Two
 * implementations give the same floats bit for bit: {@link ScalarNoiseBlocks}, which is the
 * definition and runs everywhere, and {@code SimdNoiseBlocks}, the same operations on the Vector
 * API (about ten times faster), used only where the JVM was started with
 * {@code --add-modules jdk.incubator.vector} and compiles with C2. Which one runs decides speed,
 * never values: a seed gives the same image either way (docs/DETERMINISM.md).
 */
interface NoiseBlocks {

    /** Normals per block: lane l's two draws go to positions l and 16 + l. */
    int BLOCK = 32;
    /** Independent xoshiro128+ streams; the state is 4 × 16 ints, {@code s0} of every lane first. */
    int LANES = 16;

    /** Writes {@code count} blocks at {@code out[offset …]}, stepping {@code state}'s lanes. */
    void blocks(int[] state, float[] out, int offset, int count);

    /** What runs, for the log and the benchmark: "scalar" or "SIMD, N lanes". */
    String description();

    /** The SIMD implementation where the JVM allows it, else the scalar definition; chosen once. */
    static NoiseBlocks fastest() {
        return Fastest.CHOSEN;
    }

    /** The choice, made once per JVM. */
    final class Fastest {
        static final NoiseBlocks CHOSEN = choose();

        private Fastest() {
        }

        private static NoiseBlocks choose() {
            if ("false".equalsIgnoreCase(System.getProperty("winnow.noise.simd"))
                    || ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()
                    || !optimisingJit()) {
                return ScalarNoiseBlocks.INSTANCE;
            }
            NoiseBlocks simd = simdOrNull();
            return simd != null ? simd : ScalarNoiseBlocks.INSTANCE;
        }

        /**
         * The Vector API's SIMD implementation, or null where it cannot run (no module, a vector
         * shape that does not divide 16 lanes). Loaded by name: a JVM without the module never
         * links the class.
         */
        static NoiseBlocks simdOrNull() {
            try {
                Object simd = Class.forName("dev.winnow.diffusion.SimdNoiseBlocks").getMethod("createOrNull").invoke(null);
                return simd instanceof NoiseBlocks blocks ? blocks : null;
            } catch (ReflectiveOperationException | LinkageError e) {
                return null;
            }
        }

        /**
         * Whether C2 compiles hot code. The Vector API's classes become SIMD instructions only
         * there; under C1 alone ({@code -XX:TieredStopAtLevel=1}, the CPU image's choice) or the
         * interpreter they are ordinary objects, far slower than the scalar loop.
         */
        private static boolean optimisingJit() {
            if (System.getProperty("java.vm.info", "").contains("interpreted")) {
                return false;
            }
            try {
                var vm = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
                boolean tiered = Boolean.parseBoolean(vm.getVMOption("TieredCompilation").getValue());
                int stopAt = Integer.parseInt(vm.getVMOption("TieredStopAtLevel").getValue());
                return !tiered || stopAt >= 4;
            } catch (RuntimeException | LinkageError e) {
                return true; // not HotSpot, or no jdk.management: nothing says C2 is off
            }
        }
    }
}
