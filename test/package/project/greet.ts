export const greet = (): string => "ts hello";
