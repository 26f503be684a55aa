// Writes docs/settings.md from the settings table: `npm run docs`.
import fs from "node:fs";
import path from "node:path";
import { settingsReference } from "../src/config/reference.ts";

const target = path.resolve(import.meta.dirname, "../docs/settings.md");
fs.writeFileSync(target, settingsReference());
console.log(`wrote ${path.relative(process.cwd(), target)}`);
