package dev.winnow.api;

/** A request field that is out of bounds or malformed (400); {@code field} names it in the problem. */
public class InvalidRequestException extends RuntimeException {

    private final String field;

    public InvalidRequestException(String field, String detail) {
        super(detail);
        this.field = field;
    }

    public String field() {
        return field;
    }
}
