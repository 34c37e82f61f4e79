/* Serving a MIG interface: one received request handled and answered. */
#ifndef MRT_MIG_H
#define MRT_MIG_H

#include <mach/message.h>
#include <mach/mig_errors.h>

/* demux (a generated NAME_server) handles the request in into out; the reply, if the routine
 * has one and the sender gave a reply port, is sent without waiting, so a client that went away
 * or does not read loses only its own reply. who names the server in what it prints. */
void mrt_mig_serve(mach_msg_header_t *in, mig_reply_header_t *out,
		   boolean_t (*demux)(mach_msg_header_t *, mach_msg_header_t *), const char *who);

#endif
