/* session.c - one client connection: its credentials, shared memory and eventfds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "irqd.h"
#include "util/unixmsg.h"

struct session *session_new(struct server *srv, int sock)
{
	(void)srv;
	struct session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->sock = sock;
	s->shm_fd = s->wake_fd = s->bell_fd = -1;
	atomic_init(&s->refs, 1);
	CDS_INIT_LIST_HEAD(&s->held);
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		goto fail;
	s->pid = cred.pid;
	s->uid = cred.uid;
	s->gid = cred.gid;
	len = sizeof(s->gids);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, s->gids, &len) == 0)
		s->ngids = len / sizeof(gid_t);
	if (s->ngids < (int)(sizeof(s->gids) / sizeof(s->gids[0])))
		s->gids[s->ngids++] = cred.gid;
	/* The mailbox pages are this client's alone: a memfd nobody else is given. */
	s->shm_fd = memfd_create("irqd-session", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->shm_fd < 0 || ftruncate(s->shm_fd, sizeof(struct irqd_shm)) < 0)
		goto fail;
	/* the client must not shrink it under irqd's feet (a SIGBUS in the server) */
	if (fcntl(s->shm_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail;
	s->shm = mmap(NULL, sizeof(struct irqd_shm), PROT_READ | PROT_WRITE, MAP_SHARED,
		      s->shm_fd, 0);
	if (s->shm == MAP_FAILED) {
		s->shm = NULL;
		goto fail;
	}
	s->shm->magic = IRQD_SHM_MAGIC;
	s->shm->version = IRQD_PROTO_VERSION;
	s->shm->slots = IRQD_SLOTS;
	s->shm->slot_size = sizeof(struct irqd_shm_slot);
	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->bell_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->wake_fd < 0 || s->bell_fd < 0)
		goto fail;
	return s;
fail:
	session_unref(s);
	return NULL;
}

void session_unref(struct session *s)
{
	if (atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	if (s->shm)
		munmap(s->shm, sizeof(struct irqd_shm));
	if (s->shm_fd >= 0)
		close(s->shm_fd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	if (s->bell_fd >= 0)
		close(s->bell_fd);
	free(s);
}

int session_send_fds(struct session *s, const void *msg, size_t len, const int *fds, int nfds)
{
	return unixmsg_send(s->sock, msg, len, fds, nfds, MSG_DONTWAIT);
}
