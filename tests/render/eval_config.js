// Evaluates a rendered config.js (or interface_config.js) the way a page does, and prints
// the resulting object as JSON on stdout.
//
//   node eval_config.js config FILE [--ssi] [--no-location]
//   node eval_config.js interfaceConfig FILE
//
// --ssi replaces nginx server-side include directives by their default values, as nginx
// does for a request without a tenant. --no-location evaluates without a global
// `location`, as the mobile apps' config loader may.
'use strict';
const fs = require('fs');
const vm = require('vm');

const [name, file, ...flags] = process.argv.slice(2);
let source = fs.readFileSync(file, 'utf8');
if (flags.includes('--ssi')) {
    source = source.replace(/<!--#\s*echo\s+var="[^"]*"\s+default="([^"]*)"\s*-->/g, '$1');
}
const sandbox = {};
if (!flags.includes('--no-location')) {
    sandbox.location = { protocol: 'https:', host: 'meet.example.com', href: 'https://meet.example.com/room' };
}
vm.createContext(sandbox);
vm.runInContext(source + `\n;globalThis.__result = ${name};`, sandbox, { filename: file });
process.stdout.write(JSON.stringify(sandbox.__result));
