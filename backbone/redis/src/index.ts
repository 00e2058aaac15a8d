export {
  redisBackbone,
  type RedisBackbone,
  type RedisBackboneOptions,
  type RedisBackboneStats,
} from './redis-backbone.js'
