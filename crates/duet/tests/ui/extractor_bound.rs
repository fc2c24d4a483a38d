// Using a type where an extractor is required, outside a handler.
use duet::FromRequestParts;

struct Nope;

fn needs<T: FromRequestParts>() {}

fn main() {
    needs::<Nope>();
}
