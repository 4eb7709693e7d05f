import type { Span } from '@opentelemetry/api';
import type { Broker, BrokerMessage, MessageHandler, Subscription } from '../events/broker.js';
import { runWithLogContext, traceIdOf, validTraceparent } from './log-context.js';
import {
  contextFromTraceparent,
  inSpan,
  markFailed,
  SpanKind,
  startSpan,
  traceparentOf,
  tracingEnabled,
} from './tracing.js';

/**
 * Wraps any broker adapter so that events carry their trace across it, whatever the transport:
 * - publish: one PRODUCER span per message, child of the envelope's `traceparent` (the request
 *   that committed the event), whose own traceparent replaces the message's `traceparent` header;
 * - consume: the handler runs inside a CONSUMER span, child of the header (or the envelope's
 *   traceparent when the transport lost the header), and inside a log context carrying the event's
 *   correlation id and trace id, so a consumer's log lines join the producer's.
 * Without tracing, publish passes straight through and consume only sets the log context.
 */
export class ObservedBroker implements Broker {
  constructor(private readonly inner: Broker) {}

  get name() {
    return this.inner.name;
  }

  connect(): Promise<void> {
    return this.inner.connect();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  removeGroup(group: string): Promise<void> {
    return this.inner.removeGroup(group);
  }

  async publish(messages: readonly BrokerMessage[]): Promise<void> {
    if (!tracingEnabled()) return this.inner.publish(messages);
    const spans: Span[] = [];
    const traced = messages.map((message) => {
      const parent = validTraceparent(message.headers['traceparent'] ?? message.envelope.traceparent);
      // Events committed outside any trace (expiry sweeps, demo data) start no trace of their own.
      if (parent === undefined) return message;
      const span = startSpan(`publish ${message.envelope.type}`, {
        kind: SpanKind.PRODUCER,
        parent: contextFromTraceparent(parent),
        attributes: {
          'messaging.system': this.inner.name,
          'messaging.destination.name': message.subject,
          'messaging.message.id': message.envelope.id,
          'omnistock.event.sequence': message.sequence,
        },
      });
      if (span === undefined) return message;
      spans.push(span);
      return { ...message, headers: { ...message.headers, traceparent: traceparentOf(span) } };
    });
    try {
      await this.inner.publish(traced);
    } catch (error) {
      for (const span of spans) markFailed(span, error);
      throw error;
    } finally {
      for (const span of spans) span.end();
    }
  }

  consume(group: string, handler: MessageHandler): Promise<Subscription> {
    return this.inner.consume(group, (message) => {
      const envelope = message.envelope;
      const traceparent = validTraceparent(message.headers['traceparent'] ?? envelope.traceparent);
      const traceId = traceIdOf(traceparent);
      return runWithLogContext(
        {
          correlationId: envelope.correlationid,
          tenant: envelope.tenantid,
          eventId: envelope.id,
          ...(traceId === undefined ? {} : { traceId, traceparent: traceparent as string }),
        },
        () =>
          tracingEnabled() && traceparent !== undefined
            ? inSpan(
                `${group} process ${envelope.type}`,
                {
                  kind: SpanKind.CONSUMER,
                  parent: contextFromTraceparent(traceparent),
                  attributes: {
                    'messaging.system': this.inner.name,
                    'messaging.consumer.group.name': group,
                    'messaging.message.id': envelope.id,
                  },
                },
                () => handler(message),
              )
            : handler(message),
      );
    });
  }
}
