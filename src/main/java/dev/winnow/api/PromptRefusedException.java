package dev.winnow.api;

/** The prompt policy refused a prompt; the answer names the rule, never the matched text. */
public class PromptRefusedException extends RuntimeException {

    private final String rule;

    public PromptRefusedException(String rule) {
        super("the prompt was refused by the service's prompt policy (rule '" + rule + "')");
        this.rule = rule;
    }

    public String rule() {
        return rule;
    }
}
