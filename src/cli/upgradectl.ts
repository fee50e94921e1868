#!/usr/bin/env node
// upgradectl: the device's command line and the publisher's; the verbs are in ./run.ts.
import { runCli } from './run.js';

void runCli(process.argv.slice(2));
