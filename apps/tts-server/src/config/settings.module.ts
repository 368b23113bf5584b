import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Settings, validateSettings } from './settings';

/**
 * Loads `.env` into the environment (@nestjs/config), validates it once into a typed
 * `Settings` and provides that object to every module. `overrides` lets tests and
 * benchmarks start an app with their own values.
 */
@Global()
@Module({})
export class SettingsModule {
  static forRoot(overrides: Record<string, string | undefined> = {}): DynamicModule {
    return {
      module: SettingsModule,
      imports: [
        ConfigModule.forRoot({
          cache: true,
          load: [() => ({ settings: validateSettings({ ...process.env, ...overrides }) })],
        }),
      ],
      providers: [
        {
          provide: Settings,
          inject: [ConfigService],
          useFactory: (config: ConfigService): Settings => config.getOrThrow<Settings>('settings'),
        },
      ],
      exports: [Settings],
    };
  }
}
