// A writer for test/safe-write.test.ts: rewrites one file `count` times with writeFileAtomic, every time with
// content made of its own tag only, so a reader can tell a whole file from a torn one.
import { writeFileAtomic } from "../../src/util/safe-write.ts";

const [file, tag, count, size] = process.argv.slice(2) as [string, string, string, string];
for (let i = 0; i < Number(count); i++) writeFileAtomic(file, `${tag.repeat(Number(size))}\n`);
