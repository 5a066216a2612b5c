import { expect, test } from "bun:test";
import { brokerNodes } from "./brokerNodes.ts";

test("a comma splits nodes only where a scheme follows: one URL stays whole, a password may hold a comma", () => {
  expect(brokerNodes("amqp://guest:guest@127.0.0.1:5672")).toEqual(["amqp://guest:guest@127.0.0.1:5672"]);
  expect(brokerNodes("amqp://u:p@a:5672,amqps://u:p@b:5671, amqp://u:p@c")).toEqual(["amqp://u:p@a:5672", "amqps://u:p@b:5671", "amqp://u:p@c"]);
  expect(brokerNodes("amqp://u:pa,ss@a:5672,amqp://u:pa,ss@b:5672")).toEqual(["amqp://u:pa,ss@a:5672", "amqp://u:pa,ss@b:5672"]);
  expect(brokerNodes("amqp://u:p@a?heartbeat=5,amqp://u:p@b")).toEqual(["amqp://u:p@a?heartbeat=5", "amqp://u:p@b"]);
});

test("spaces and commas at the ends go: a trailing comma or newline is not part of the last node's port", () => {
  expect(brokerNodes("amqp://guest:guest@127.0.0.1:5672,")).toEqual(["amqp://guest:guest@127.0.0.1:5672"]);
  expect(brokerNodes(" amqp://guest:guest@127.0.0.1:5672 \n")).toEqual(["amqp://guest:guest@127.0.0.1:5672"]);
  expect(brokerNodes(",amqp://u:p@a, amqp://u:p@b ,")).toEqual(["amqp://u:p@a", "amqp://u:p@b"]);
  expect(brokerNodes(" , ")).toEqual([]);
});
