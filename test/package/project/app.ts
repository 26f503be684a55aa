// What tsx runs and Node's type stripping does not: an extensionless import, an enum, a parameter property.
import { greet } from "./greet";

enum Kind {
  Plain = "plain",
}

class Greeter {
  constructor(private readonly kind: Kind) {}
  hello(): string {
    return `${greet()} ${this.kind}`;
  }
}

export default {
  fetch: (_request: Request): Response => new Response(new Greeter(Kind.Plain).hello()),
};
