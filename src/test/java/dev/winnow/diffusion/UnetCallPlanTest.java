package dev.winnow.diffusion;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Which rows of a step share a UNet call: the plan alone, without models. */
class UnetCallPlanTest {

    record Row(String name, double timestep) {
    }

    static List<List<String>> plan(List<Row> rows) {
        return UnetCallPlan.byTimestep(rows, Row::timestep).stream()
                .map(call -> call.stream().map(Row::name).toList()).toList();
    }

    @Test
    void rowsAtOneTimestepShareOneCall() {
        assertEquals(List.of(List.of("a0", "a1", "b0")),
                plan(List.of(new Row("a0", 801), new Row("a1", 801), new Row("b0", 801))));
    }

    @Test
    void rowsAtSeveralTimestepsTakeOneCallPerTimestepInTheOrderTheyFirstCome() {
        List<Row> rows = List.of(new Row("a0", 801), new Row("a1", 801), new Row("b0", 951), new Row("c0", 801),
                new Row("d0", 901.5), new Row("d1", 901.5));
        assertEquals(List.of(List.of("a0", "a1", "c0"), List.of("b0"), List.of("d0", "d1")), plan(rows));
    }

    @Test
    void aUnetWithATimestepPerRowTakesTheWholeStepInOneCall() {
        assertEquals(1, UnetCallPlan.calls(List.of(), true).size());
    }
}
