import type { EgressService } from '@zenmesh/proto';
import { Code, RpcError, type ServiceImpl } from '@zenmesh/rpc';
import type { DeliveryEngine } from './delivery-engine.js';

const EVENT_ID = /^evt_[a-z2-7]{26}$/;

/**
 * EgressService handlers. Dispatch only nudges: it answers at once and the lease round runs in the
 * background under the call's trace context, so the attempts join the trace of the webhook that caused them.
 */
export function createEgressService(engine: DeliveryEngine): ServiceImpl<typeof EgressService.method> {
  return {
    async dispatch(request) {
      if (!EVENT_ID.test(request.eventId)) throw new RpcError(Code.INVALID_ARGUMENT, 'invalid_event_id');
      return { accepted: engine.nudge(request.eventId) };
    },
  };
}
