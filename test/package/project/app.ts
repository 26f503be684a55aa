// What tsx runs and Node's type stripping does not: an extensionless import, an enum, a parameter
// property, a decorator.
import { greet } from "./greet";

enum Kind {
  Plain = "plain",
}

function loud(method: (this: Greeter) => string, _context: ClassMethodDecoratorContext): (this: Greeter) => string {
  return function (this: Greeter) {
    return method.call(this).toLowerCase();
  };
}

class Greeter {
  constructor(private readonly kind: Kind) {}
  @loud
  hello(): string {
    return `${greet()} ${this.kind}`;
  }
}

export default {
  fetch: (_request: Request): Response => new Response(new Greeter(Kind.Plain).hello()),
};
