package dev.winnow.diffusion;

import static dev.winnow.diffusion.ScalarNoiseBlocks.C0;
import static dev.winnow.diffusion.ScalarNoiseBlocks.C1;
import static dev.winnow.diffusion.ScalarNoiseBlocks.C2;
import static dev.winnow.diffusion.ScalarNoiseBlocks.HALF_PI;
import static dev.winnow.diffusion.ScalarNoiseBlocks.L0;
import static dev.winnow.diffusion.ScalarNoiseBlocks.L1;
import static dev.winnow.diffusion.ScalarNoiseBlocks.L2;
import static dev.winnow.diffusion.ScalarNoiseBlocks.L3;
import static dev.winnow.diffusion.ScalarNoiseBlocks.L4;
import static dev.winnow.diffusion.ScalarNoiseBlocks.L5;
import static dev.winnow.diffusion.ScalarNoiseBlocks.L6;
import static dev.winnow.diffusion.ScalarNoiseBlocks.LN2;
import static dev.winnow.diffusion.ScalarNoiseBlocks.S0;
import static dev.winnow.diffusion.ScalarNoiseBlocks.S1;
import static dev.winnow.diffusion.ScalarNoiseBlocks.S2;
import static dev.winnow.diffusion.ScalarNoiseBlocks.SIGN;
import static dev.winnow.diffusion.ScalarNoiseBlocks.SQRT2_MANTISSA;
import static jdk.incubator.vector.VectorOperators.ASHR;
import static jdk.incubator.vector.VectorOperators.BITWISE_BLEND;
import static jdk.incubator.vector.VectorOperators.I2F;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LSHR;
import static jdk.incubator.vector.VectorOperators.ROL;
import static jdk.incubator.vector.VectorOperators.SQRT;
import static jdk.incubator.vector.VectorOperators.XOR;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link ScalarNoiseBlocks}' operations, one for one, on the Vector API (an incubator module in
 * Java 17: only loaded when the JVM runs with {@code --add-modules jdk.incubator.vector}), the 16
 * lanes a vector at a time (one AVX-512 vector, two AVX2 ones). Every lane-wise operation here is
 * specified as its scalar counterpart (IEEE add, multiply, square root; exact conversions; no
 * fused multiply-add), so the floats are the scalar definition's bit for bit: {@code
 * VectorBoxMullerTest} compares the two.
 */
final class SimdNoiseBlocks implements NoiseBlocks {

    private final VectorSpecies<Integer> ints;

    private SimdNoiseBlocks(VectorSpecies<Integer> ints) {
        this.ints = ints;
    }

    /** The widest shape that divides the 16 lanes (at most 512 bits), or null below 4 lanes. */
    public static NoiseBlocks createOrNull() {
        VectorSpecies<Integer> ints = IntVector.SPECIES_PREFERRED.length() > LANES ? IntVector.SPECIES_512 : IntVector.SPECIES_PREFERRED;
        if (ints.length() < 4 || LANES % ints.length() != 0) {
            return null;
        }
        return new SimdNoiseBlocks(ints);
    }

    @Override
    public void blocks(int[] state, float[] out, int offset, int count) {
        for (int lane = 0; lane < LANES; lane += ints.length()) {
            IntVector s0 = IntVector.fromArray(ints, state, lane);
            IntVector s1 = IntVector.fromArray(ints, state, LANES + lane);
            IntVector s2 = IntVector.fromArray(ints, state, 2 * LANES + lane);
            IntVector s3 = IntVector.fromArray(ints, state, 3 * LANES + lane);
            for (int k = 0; k < count; k++) {
                IntVector a = s0.add(s3);
                IntVector t = s1.lanewise(LSHL, 9);
                s2 = s2.lanewise(XOR, s0);
                s3 = s3.lanewise(XOR, s1);
                s1 = s1.lanewise(XOR, s2);
                s0 = s0.lanewise(XOR, s3);
                s2 = s2.lanewise(XOR, t);
                s3 = s3.lanewise(ROL, 11);
                IntVector b = s0.add(s3);
                t = s1.lanewise(LSHL, 9);
                s2 = s2.lanewise(XOR, s0);
                s3 = s3.lanewise(XOR, s1);
                s1 = s1.lanewise(XOR, s2);
                s0 = s0.lanewise(XOR, s3);
                s2 = s2.lanewise(XOR, t);
                s3 = s3.lanewise(ROL, 11);

                FloatVector u1 = ((FloatVector) a.lanewise(LSHR, 8).add(1).convert(I2F, 0)).mul(0x1p-24f);
                IntVector bits = u1.reinterpretAsInts();
                IntVector mantissa = bits.and(0x7FFFFF);
                IntVector halve = mantissa.neg().add(SQRT2_MANTISSA).lanewise(LSHR, 31);
                FloatVector e = (FloatVector) bits.lanewise(LSHR, 23).sub(127).add(halve).convert(I2F, 0);
                FloatVector x = mantissa.or(halve.lanewise(LSHL, 23).neg().add(0x3F800000)).reinterpretAsFloats().sub(1f);
                FloatVector z = x.mul(x);
                FloatVector p = x.mul(L6).add(L5).mul(x).add(L4).mul(x).add(L3).mul(x).add(L2).mul(x).add(L1).mul(x).add(L0);
                FloatVector ln = x.sub(z.mul(0.5f)).add(z.mul(x).mul(p)).add(e.mul(LN2));
                FloatVector r = ln.mul(-2f).max(0f).lanewise(SQRT);

                FloatVector y = ((FloatVector) b.lanewise(LSHR, 6).and(0x7FFFFF).mul(2).add(1).convert(I2F, 0))
                        .mul(0x1p-24f).sub(0.5f).mul(HALF_PI);
                FloatVector yy = y.mul(y);
                IntVector sinBits = y.add(yy.mul(y).mul(yy.mul(S2).add(S1).mul(yy).add(S0))).reinterpretAsInts();
                IntVector cosBits = yy.mul(0.5f).neg().add(1f).add(yy.mul(yy).mul(yy.mul(C2).add(C1).mul(yy).add(C0)))
                        .reinterpretAsInts();
                IntVector swap = b.lanewise(LSHL, 2).lanewise(ASHR, 31);
                FloatVector first = cosBits.lanewise(BITWISE_BLEND, sinBits, swap).lanewise(XOR, b.and(SIGN)).reinterpretAsFloats();
                FloatVector second = sinBits.lanewise(BITWISE_BLEND, cosBits, swap).lanewise(XOR, b.lanewise(LSHL, 1).and(SIGN))
                        .reinterpretAsFloats();

                int at = offset + k * BLOCK + lane;
                r.mul(first).intoArray(out, at);
                r.mul(second).intoArray(out, at + LANES);
            }
            s0.intoArray(state, lane);
            s1.intoArray(state, LANES + lane);
            s2.intoArray(state, 2 * LANES + lane);
            s3.intoArray(state, 3 * LANES + lane);
        }
    }

    @Override
    public String description() {
        return "SIMD, " + ints.length() + " lanes";
    }
}
