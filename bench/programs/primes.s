# Count the primes below 10000 by trial division: a loop-and-divide workload for the engines.
    mov %r0, 0              # primes found
    mov %r1, 2              # candidate
next:
    jge %r1, 10000, done
    mov %r2, 2              # divisor
try:
    mov %r3, %r2
    mul %r3, %r2
    jgt %r3, %r1, prime     # divisor^2 > candidate: no divisor found
    mov %r4, %r1
    mod %r4, %r2
    jeq %r4, 0, composite
    add %r2, 1
    ja try
prime:
    add %r0, 1
composite:
    add %r1, 1
    ja next
done:
    exit
