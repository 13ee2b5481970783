package dev.winnow.api;

/** An OpenAI-style request named a model other than the loaded pipeline. */
public class ModelNotFoundException extends RuntimeException {

    public ModelNotFoundException(String asked, String loaded) {
        super("the model '" + asked + "' does not exist here; this service runs '" + loaded + "' (or leave model out)");
    }
}
