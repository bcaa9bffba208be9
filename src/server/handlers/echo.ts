import type { EchoRequest, EchoResponse } from '../../generated/image_generation.js';

/** The seed API's liveness answer. */
export async function echo(_request: EchoRequest): Promise<EchoResponse> {
  return { message: 'HELLO' };
}
