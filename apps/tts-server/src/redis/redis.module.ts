import { Global, Module } from '@nestjs/common';
import { RedisConnection } from './redis-connection';

/** The optional Redis connection shared by the cache and the rate limiter. */
@Global()
@Module({ providers: [RedisConnection], exports: [RedisConnection] })
export class RedisModule {}
