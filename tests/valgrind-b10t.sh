#!/bin/sh
# Run b10t under valgrind memcheck: any memory error or definite leak makes
# the command exit 99, which the CLI test then reports as a failure.
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite "$B10T_REAL" "$@"
