/* SPDX-License-Identifier: MIT */
/*
 * A queue of whole buffers between two threads: a decoder fills buffers
 * from a free list and hands them over in order, the consumer gives each
 * back when it is done with it.  No buffer is ever copied; B10T_BUFQ_LEN
 * buffers bound the memory.  Used by the lz4 and zstd readers.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "archive-int.h"

int b10t_bufq_init(struct b10t_bufq *q, size_t bufsize)
{
	memset(q, 0, sizeof(*q));
	for (size_t i = 0; i < B10T_BUFQ_LEN; i++) {
		q->free[i] = malloc(bufsize);
		if (!q->free[i]) {
			while (i--)
				free(q->free[i]);
			return -ENOMEM;
		}
	}
	q->nfree = B10T_BUFQ_LEN;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	return 0;
}

void b10t_bufq_destroy(struct b10t_bufq *q, char *extra1, char *extra2)
{
	/* Every buffer is either free, full, or held by one of the sides. */
	for (size_t i = 0; i < q->nfree; i++)
		free(q->free[i]);
	for (size_t i = 0; i < q->nfull; i++)
		free(q->full[(q->head + i) % (B10T_BUFQ_LEN + 1)].data);
	free(extra1);
	free(extra2);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
}

/* Take an empty buffer; NULL when the other side stopped. */
char *b10t_bufq_get_free(struct b10t_bufq *q)
{
	char *b = NULL;

	pthread_mutex_lock(&q->lock);
	while (!q->nfree && !q->stop)
		pthread_cond_wait(&q->cond, &q->lock);
	if (!q->stop)
		b = q->free[--q->nfree];
	pthread_mutex_unlock(&q->lock);
	return b;
}

void b10t_bufq_put_free(struct b10t_bufq *q, char *b)
{
	pthread_mutex_lock(&q->lock);
	q->free[q->nfree++] = b;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void b10t_bufq_put_full(struct b10t_bufq *q, struct b10t_chunk c)
{
	pthread_mutex_lock(&q->lock);
	q->full[(q->head + q->nfull) % (B10T_BUFQ_LEN + 1)] = c;
	q->nfull++;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/* Next produced buffer; false when the other side stopped. */
bool b10t_bufq_get_full(struct b10t_bufq *q, struct b10t_chunk *c)
{
	bool got = false;

	pthread_mutex_lock(&q->lock);
	while (!q->nfull && !q->stop)
		pthread_cond_wait(&q->cond, &q->lock);
	if (q->nfull && !q->stop) {	/* stopped: drop the rest, unread */
		*c = q->full[q->head];
		q->head = (q->head + 1) % (B10T_BUFQ_LEN + 1);
		q->nfull--;
		got = true;
	}
	pthread_mutex_unlock(&q->lock);
	return got;
}

void b10t_bufq_stop(struct b10t_bufq *q)
{
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}
