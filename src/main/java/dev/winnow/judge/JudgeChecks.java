package dev.winnow.judge;

import ai.onnxruntime.TensorInfo;
import dev.winnow.modelpack.JudgeManifest;
import dev.winnow.modelpack.PackException;
import dev.winnow.onnx.ModelSession;
import dev.winnow.onnx.Tensors;
import java.util.Arrays;

/** Load-time checks that a judge's graph is what its judge.json says. */
final class JudgeChecks {

    private JudgeChecks() {
    }

    static void checkImageInput(ModelSession s, JudgeManifest m) {
        JudgeManifest.ImageInput in = m.imageInput();
        TensorInfo info = s.input(in.name());
        long[] expected = "NHWC".equals(in.layout())
                ? new long[] {-1, in.height(), in.width(), 3} : new long[] {-1, 3, in.height(), in.width()};
        long[] actual = info.getShape();
        boolean matches = actual.length == 4;
        for (int i = 1; matches && i < 4; i++) {
            matches = actual[i] < 0 || actual[i] == expected[i];
        }
        if (!Tensors.isFloat(info) || !matches) {
            throw new PackException(s.file() + ": input '" + in.name() + "' is " + info.type + " "
                    + Tensors.describe(actual) + ", but judge.json describes float " + Tensors.describe(expected)
                    + " (" + in.layout() + ")");
        }
    }

    static void checkOutputWidth(ModelSession s, JudgeManifest m, int width) {
        TensorInfo out = s.output(m.output().name());
        long[] shape = out.getShape();
        long last = shape.length == 0 ? 1 : shape[shape.length - 1];
        boolean ok = shape.length == 1 ? width == 1 : (last < 0 || last == width);
        if (!ok) {
            throw new PackException(s.file() + ": output '" + m.output().name() + "' has shape "
                    + Arrays.toString(shape) + ", expected " + width + " value(s) per image");
        }
    }
}
