/**
 * The largest gRPC message the server accepts (its grpc.max_receive_message_length). Uploads use
 * 1 MiB chunks; a generation request carries its pictures inside, so the CLI checks them against this.
 */
export const MAX_MESSAGE_BYTES = 64 * 2 ** 20;
