#!/usr/bin/env node
// Checks Adaptive Cards with Microsoft's own parser (the `adaptivecards` npm package), as an
// independent judge of the cards the teams transport builds.
//
//   node validate.js FILE
//
// FILE holds a JSON array of {"name": "...", "card": {AdaptiveCard}}. Prints a JSON array of
// {"name": "...", "problems": ["..."]}, one per card, and exits 1 when any card has a problem.
//
// A problem is: a parse event (unknown element, invalid value, element newer than the target
// version), a validation failure (validateProperties), or a difference between the card and
// what the parser serialises back. The SDK drops what it does not recognise without an event
// (a misspelt property, a property newer than 1.5, an empty text), so the round trip is what
// catches those.
"use strict";

const fs = require("node:fs");
// lib/ is ES modules without file extensions, which Node cannot load; dist/ is the UMD bundle.
const AdaptiveCards = require("adaptivecards/dist/adaptivecards.js");

// The newest schema Teams renders.
const TARGET_VERSION = "1.5";
// Card-level properties that Teams reads and the SDK does not model.
const HOST_EXTENSIONS = new Set(["msteams"]);

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function compare(given, kept, path, problems) {
  if (Array.isArray(given) && Array.isArray(kept)) {
    if (given.length !== kept.length) {
      problems.push(`${path}: ${given.length} items given, ${kept.length} kept by the parser`);
    }
    const common = Math.min(given.length, kept.length);
    for (let index = 0; index < common; index++) {
      compare(given[index], kept[index], `${path}[${index}]`, problems);
    }
  } else if (isObject(given) && isObject(kept)) {
    for (const key of Object.keys(given)) {
      if (path === "$" && HOST_EXTENSIONS.has(key)) continue;
      if (!(key in kept)) {
        problems.push(`${path}.${key}: dropped by the parser (${JSON.stringify(given[key])})`);
      } else {
        compare(given[key], kept[key], `${path}.${key}`, problems);
      }
    }
    for (const key of Object.keys(kept)) {
      if (!(key in given)) problems.push(`${path}.${key}: added by the parser`);
    }
  } else if (given !== kept) {
    problems.push(`${path}: ${JSON.stringify(given)} read as ${JSON.stringify(kept)}`);
  }
}

function validate(card) {
  const problems = [];
  if (!isObject(card)) return ["the card is not a JSON object"];
  if (card.type !== "AdaptiveCard") problems.push(`type is ${JSON.stringify(card.type)}`);
  if (card.version !== TARGET_VERSION) {
    problems.push(`version is ${JSON.stringify(card.version)}, not ${TARGET_VERSION}`);
  }
  const version = AdaptiveCards.Versions.v1_5;
  const context = new AdaptiveCards.SerializationContext(version);
  const parsed = new AdaptiveCards.AdaptiveCard();
  parsed.parse(card, context);
  for (let index = 0; index < context.eventCount; index++) {
    const event = context.getEventAt(index);
    problems.push(`parse: ${AdaptiveCards.ValidationEvent[event.event]}: ${event.message}`);
  }
  for (const event of parsed.validateProperties().validationEvents) {
    problems.push(`validation: ${AdaptiveCards.ValidationEvent[event.event]}: ${event.message}`);
  }
  const serialised = parsed.toJSON(new AdaptiveCards.SerializationContext(version));
  compare(card, serialised, "$", problems);
  return problems;
}

function main(argv) {
  if (argv.length !== 1) {
    process.stderr.write("usage: node validate.js FILE\n");
    return 2;
  }
  const items = JSON.parse(fs.readFileSync(argv[0], "utf8"));
  if (!Array.isArray(items) || items.length === 0) {
    process.stderr.write("FILE must hold a non-empty JSON array of {name, card}\n");
    return 2;
  }
  const report = items.map((item) => ({ name: String(item.name), problems: validate(item.card) }));
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  return report.some((entry) => entry.problems.length > 0) ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
