import { Injectable } from '@nestjs/common';
import { Settings } from '../config/settings';
import { KeyRing } from './key-ring';

/** The synthesis keys (API_KEYS); empty means the API is open. */
@Injectable()
export class ApiKeysService extends KeyRing {
  constructor(settings: Settings) {
    super(settings.API_KEYS);
  }
}
